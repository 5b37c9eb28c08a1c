provider "aws" {
  region = var.region

  default_tags {
    tags = module.naming.tags
  }
}

module "naming" {
  source = "../../../modules/naming"

  project     = var.project
  environment = var.environment
  component   = "network"
}

module "network" {
  source = "../../../modules/vpc"

  name = module.naming.prefix
  tags = module.naming.tags

  cidr     = var.cidr
  az_count = var.az_count
}
