"""The REST API: one powertools resolver (`app`), one router per resource."""
