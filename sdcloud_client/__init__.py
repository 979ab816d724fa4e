"""The sd-cloud client core: plain JSON over `requests`, Python 3.10, nothing else.

It installs into the AUTOMATIC1111 WebUI's own environment, so it must never import pydantic,
httpx, api_schema or anything of the control plane.
"""

from sdcloud_client.client import SdCloudClient
from sdcloud_client.config import ClientConfig
from sdcloud_client.errors import ApiError, ConfigError, FieldError

__all__ = ["ApiError", "ClientConfig", "ConfigError", "FieldError", "SdCloudClient"]
