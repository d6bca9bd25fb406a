// The shims are static inline functions in include/CProcessShims.h; SwiftPM wants a source file.
#include "CProcessShims.h"
