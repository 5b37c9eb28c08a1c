provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = module.naming.tags
}

module "naming" {
  source = "../../../modules/naming"

  project     = var.project
  environment = var.environment
  component   = "database"
}

data "terraform_remote_state" "network" {
  backend = "gcs"

  config = {
    bucket = "shop-tfstate"
    prefix = "shop/staging/network"
  }
}

module "database" {
  source = "../../../modules/cloudsql"

  name       = module.naming.name
  region     = var.region
  network_id = data.terraform_remote_state.network.outputs.network_id
  labels     = module.naming.tags

  tier                = var.tier
  high_availability   = var.high_availability
  deletion_protection = var.deletion_protection
}
