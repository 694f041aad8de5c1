"""Conversions between dnsctl configurations and other traffic managers' formats."""
