"""The pages: the officer's case file, the liaison's inbox, the manager's desk."""
