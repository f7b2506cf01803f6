mod builder;
mod corrupt;
mod synthetic;
mod vmlinux;
