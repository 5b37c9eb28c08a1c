# Replace with your subscription (az account show --query id).
project         = "shop"
environment     = "production"
subscription_id = "00000000-0000-0000-0000-000000000000"
vm_size         = "Standard_D4s_v5"
node_min        = 3
node_max        = 10
