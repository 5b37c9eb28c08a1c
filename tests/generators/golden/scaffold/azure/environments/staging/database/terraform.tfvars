# Replace with your subscription (az account show --query id).
project               = "shop"
environment           = "staging"
subscription_id       = "00000000-0000-0000-0000-000000000000"
sku_name              = "B_Standard_B1ms"
backup_retention_days = 7
geo_redundant_backup  = false
