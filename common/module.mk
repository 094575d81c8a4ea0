COMMON_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard common/*.c))
