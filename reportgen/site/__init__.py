"""The site: gather → render → write into site/, the render cache, serve and publish. It writes; it never trains."""
