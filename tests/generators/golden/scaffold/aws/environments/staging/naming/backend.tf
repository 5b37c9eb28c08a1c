# State of staging/naming: its own key, remote, encrypted, locked.
terraform {
  backend "s3" {
    bucket       = "shop-tfstate"
    key          = "shop/staging/naming/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}
