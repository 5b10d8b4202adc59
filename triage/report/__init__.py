"""Reports: the model, its Markdown and HTML renderings, and the routes that serve them."""
