# rank/rank.mk — clipsort-rank: the active-learning queue.
PROGS += $(B)/clipsort-rank
MAN1  += man/clipsort-rank.1

$(B)/clipsort-rank: $(O)/rank/rank.o $(O)/rank/kmeans.o $(O)/train/outfile.o $(O)/train/model.o $(O)/train/predrows.o $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(COMMON_LIBS) $(SVM_LIBS) $(BLAS_LIBS) -o $@
