module librouter/router

go 1.19
