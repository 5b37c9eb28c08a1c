# State of production/network: its own key, remote, encrypted, locked.
terraform {
  backend "s3" {
    bucket         = "shop-tfstate"
    key            = "shop/production/network/terraform.tfstate"
    region         = "eu-west-1"
    encrypt        = true
    dynamodb_table = "shop-tflocks"
  }
}
