project             = "shop"
environment         = "staging"
region              = "eu-west-1"
node_instance_types = ["m6i.large"]
node_min            = 1
node_max            = 3
