module librouter/examples/gateway

go 1.19

require librouter/router v0.0.0

replace librouter/router => ../../bindings/go
