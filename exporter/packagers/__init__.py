"""Turn written text into product files: bundle (zip), PDF (WeasyPrint), EPUB (EbookLib)."""
