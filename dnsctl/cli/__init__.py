"""The command line: argument parsing, help, completion, rendering and the admin client."""
