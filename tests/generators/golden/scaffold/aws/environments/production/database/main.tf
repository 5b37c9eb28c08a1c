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
  component   = "database"
}

data "terraform_remote_state" "network" {
  backend = "s3"

  config = {
    bucket  = "shop-tfstate"
    key     = "shop/production/network/terraform.tfstate"
    region  = "eu-west-1"
    encrypt = true
  }
}

module "database" {
  source = "../../../modules/rds"

  name          = module.naming.name
  tags          = module.naming.tags
  vpc_id        = data.terraform_remote_state.network.outputs.vpc_id
  subnet_ids    = data.terraform_remote_state.network.outputs.private_subnet_ids
  allowed_cidrs = [data.terraform_remote_state.network.outputs.cidr]

  instance_class        = var.instance_class
  multi_az              = var.multi_az
  backup_retention_days = var.backup_retention_days
  deletion_protection   = var.deletion_protection
}
