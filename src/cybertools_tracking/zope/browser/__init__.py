"""Browser views of a tracking storage and its tracks."""
