module "naming" {
  source = "../../../modules/naming"

  project     = var.project
  environment = var.environment
  component   = "naming"
}
