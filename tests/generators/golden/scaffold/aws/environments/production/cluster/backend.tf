# State of production/cluster: its own key, remote, encrypted, locked.
terraform {
  backend "s3" {
    bucket       = "shop-tfstate"
    key          = "shop/production/cluster/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}
