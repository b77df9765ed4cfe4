"""Sphinx configuration of the course's website (`mi-tutorial site`, mi_tutorial/course/site.py).

`docs/` is the site's source: this file, the landing page (index.md), the API reference
(api/), the TinyWorld page and the instructors' guide. `mi-tutorial site` copies it to a
staging folder and adds what it generates there (the chapter pages from the executed
solution notebooks, the chapter table, the exercise notebooks to download, plotly.js and
MathJax), then runs Sphinx on that folder. Building `docs/` with Sphinx directly is not
supported: the generated parts would be missing.

Offline: nothing here loads from another host. MyST-NB executes nothing (the notebooks
come executed), plotly.js and MathJax are files of the site, the theme's fonts and icons
ship with it, and Sphinx's search index is a local script.
"""

project = "mi-tutorial"
author = "the mi-tutorial authors"
copyright = "the mi-tutorial authors, MIT licence"  # noqa: A001 (Sphinx's name)

extensions = [
    "myst_nb",  # MyST markdown and executed notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # the library's docstrings are Google-style ("Args:")
    "sphinx.ext.mathjax",
]

# _generated/ holds what index.md includes; _exercises/ the notebooks to download
exclude_patterns = ["_build", "**.ipynb_checkpoints", "_generated", "_exercises"]
myst_enable_extensions = ["colon_fence", "dollarmath", "amsmath", "attrs_block"]
myst_heading_anchors = 3

nb_execution_mode = "off"  # the notebooks are executed once, by the tests or by `site`
nb_merge_streams = True
nb_output_stderr = "remove"  # warnings from the kernel, not part of the lesson

default_role = "literal"  # the docstrings' `name` is code, as in the notebooks' markdown
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True

html_theme = "sphinx_book_theme"
html_title = "mi-tutorial"
html_static_path = ["_static"]  # `site` adds plotly.min.js and mathjax/ here
html_css_files = ["course.css"]
html_js_files = ["plotly.min.js"]  # every chapter page's figures use it (site.py strips
# the copy each notebook inlines into its first figure)
mathjax_path = "mathjax/tex-chtml.js"
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "search_bar_text": "Search the course…",
}
# The theme's light/dark switch starts from the reader's system setting (with no default
# set, the theme logs a console error on every page).
html_context = {"default_mode": "auto"}
html_last_updated_fmt = None
# A search result's summary is fetched from its page, which a browser refuses for a site
# opened from disk (file://): results show titles and sections only, with no console error.
html_show_search_summary = False
html_show_sourcelink = False
html_copy_source = False
