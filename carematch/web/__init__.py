"""Server-rendered pages (Jinja2 + HTMX): resident portal, staff workbench, officials' cockpit."""
