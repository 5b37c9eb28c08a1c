# Replace with your subscription (az account show --query id).
project               = "shop"
environment           = "production"
subscription_id       = "00000000-0000-0000-0000-000000000000"
sku_name              = "GP_Standard_D2ds_v5"
backup_retention_days = 14
geo_redundant_backup  = true
