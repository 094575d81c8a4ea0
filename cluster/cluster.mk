PROGS += $(B)/clipsort-cluster
MAN1  += man/clipsort-cluster.1
$(O)/cluster/%.o: CFLAGS += -fopenmp
$(O)/cluster/%.o: CPPFLAGS += -Izeroshot
$(B)/clipsort-cluster: $(O)/cluster/main.o $(O)/cluster/kmeans.o $(O)/cluster/check.o $(O)/zeroshot/classes.o $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fopenmp $(LDFLAGS) $^ $(COMMON_LIBS) $(BLAS_LIBS) -o $@
