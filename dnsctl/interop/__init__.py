"""Import and export: other products' configurations to and from dnsctl's (Traffic Manager, Private
Traffic Manager). Pure conversions: the CLI reads the files and prints."""
