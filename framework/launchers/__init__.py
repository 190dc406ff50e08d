"""Remote launch targets: one composed run becomes an Azure ML job or a Kaito workspace."""
