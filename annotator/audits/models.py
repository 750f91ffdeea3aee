# Models arrive with the features of this sub-app; see DESIGN.md.
