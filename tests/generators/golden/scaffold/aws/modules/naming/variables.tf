variable "project" {
  description = "The project, first part of every name."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.project))
    error_message = "Lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "environment" {
  description = "The environment (staging, production, \u2026)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.environment))
    error_message = "Lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "component" {
  description = "The component (network, cluster, database)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.component))
    error_message = "Lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "extra_tags" {
  description = "More tags, merged over the standard ones."
  type        = map(string)
  default     = {}
}
