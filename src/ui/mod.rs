//! Pure render functions: read `App` and a theme, draw, no IO.
