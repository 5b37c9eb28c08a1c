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
  component   = "cluster"
}

data "terraform_remote_state" "network" {
  backend = "s3"

  config = {
    bucket  = "shop-tfstate"
    key     = "shop/staging/network/terraform.tfstate"
    region  = "eu-west-1"
    encrypt = true
  }
}

module "cluster" {
  source = "../../../modules/eks"

  name       = module.naming.name
  tags       = module.naming.tags
  subnet_ids = data.terraform_remote_state.network.outputs.private_subnet_ids

  node_instance_types = var.node_instance_types
  node_min            = var.node_min
  node_max            = var.node_max
}
