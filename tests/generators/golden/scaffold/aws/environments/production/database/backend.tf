# State of production/database: its own key, remote, encrypted, locked.
terraform {
  backend "s3" {
    bucket       = "shop-tfstate"
    key          = "shop/production/database/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}
