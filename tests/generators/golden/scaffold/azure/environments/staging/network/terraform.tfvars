# Replace with your subscription (az account show --query id).
project         = "shop"
environment     = "staging"
subscription_id = "00000000-0000-0000-0000-000000000000"
location        = "westeurope"
cidr            = "10.31.0.0/16"
