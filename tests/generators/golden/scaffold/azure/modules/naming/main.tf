locals {
  prefix = "${var.project}-${var.environment}"
  tags = merge({
    project     = var.project
    environment = var.environment
    component   = var.component
    managed-by  = "terraform"
  }, var.extra_tags)
}
