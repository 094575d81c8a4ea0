# train/train.mk — clipsort-train and clipsort-predict (liblinear / libsvm, BLAS scoring).
PROGS += $(B)/clipsort-train $(B)/clipsort-predict
MAN1  += man/clipsort-train.1 man/clipsort-predict.1
TRAIN_OBJS := $(O)/train/outfile.o $(O)/train/model.o $(O)/train/fit.o $(O)/train/classset.o $(O)/train/predrows.o

$(B)/clipsort-train: $(O)/train/train.o $(TRAIN_OBJS) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(COMMON_LIBS) $(LINEAR_LIBS) $(SVM_LIBS) $(BLAS_LIBS) -o $@

$(B)/clipsort-predict: $(O)/train/predict.o $(TRAIN_OBJS) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(COMMON_LIBS) $(LINEAR_LIBS) $(SVM_LIBS) $(BLAS_LIBS) -o $@
