"""Client traffic through the VIP during a roll, and the figures that prove (or disprove) uptime."""
