# State of staging/database: its own key, remote, encrypted, locked.
terraform {
  backend "s3" {
    bucket       = "shop-tfstate"
    key          = "shop/staging/database/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}
