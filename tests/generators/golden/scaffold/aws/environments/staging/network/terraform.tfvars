project     = "shop"
environment = "staging"
region      = "eu-west-1"
cidr        = "10.1.0.0/16"
az_count    = 2
