"""The `sdcloud` client commands, one module per group; all of them speak through `sdcloud_client`."""
