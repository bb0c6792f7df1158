-- only a comment
