# Replace with your subscription (az account show --query id).
project         = "shop"
environment     = "staging"
subscription_id = "00000000-0000-0000-0000-000000000000"
vm_size         = "Standard_D4s_v5"
node_min        = 1
node_max        = 3
