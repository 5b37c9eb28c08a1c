provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = module.naming.tags
}

module "naming" {
  source = "../../../modules/naming"

  project     = var.project
  environment = var.environment
  component   = "network"
}

module "network" {
  source = "../../../modules/vpc"

  name   = module.naming.prefix
  region = var.region

  cidr = var.cidr
}
