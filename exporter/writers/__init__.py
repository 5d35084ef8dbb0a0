"""Turn the normalized model into text: pandoc bridge, markdown and HTML writers."""
