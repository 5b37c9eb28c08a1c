provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = module.naming.tags
}

module "naming" {
  source = "../../../modules/naming"

  project     = var.project
  environment = var.environment
  component   = "cluster"
}

data "terraform_remote_state" "network" {
  backend = "gcs"

  config = {
    bucket = "shop-tfstate"
    prefix = "shop/production/network"
  }
}

module "cluster" {
  source = "../../../modules/gke"

  name                = module.naming.name
  project_id          = var.project_id
  region              = var.region
  network_id          = data.terraform_remote_state.network.outputs.network_id
  subnetwork_id       = data.terraform_remote_state.network.outputs.subnetwork_id
  pods_range_name     = data.terraform_remote_state.network.outputs.pods_range_name
  services_range_name = data.terraform_remote_state.network.outputs.services_range_name
  labels              = module.naming.tags

  machine_type        = var.machine_type
  node_min            = var.node_min
  node_max            = var.node_max
  deletion_protection = var.deletion_protection
}
