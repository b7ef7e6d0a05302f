"""A local stand-in for Azure Resource Manager's Microsoft.Compute images API."""
