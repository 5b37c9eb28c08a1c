project     = "shop"
environment = "production"
region      = "eu-west-1"
cidr        = "10.0.0.0/16"
az_count    = 3
