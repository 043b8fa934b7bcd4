package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The launch check against a kernel's parameter sizes (what cuFuncGetParamInfo reports for the loaded
 * function; on a GPU every launch of the test suite goes through it): a launch of the wrong count or with an
 * argument of the wrong width is refused with the kernel's name and the argument's index. Needs no GPU.
 */
class KernelSignatureTest {
    // rmsnorm_fwd_bf16(const bf16* x, const bf16* y, const float* w, float eps, int rows, int dim, bf16* sum, bf16* out, float* rstd)
    private final KernelSignature rmsnorm = new KernelSignature("rmsnorm_fwd_bf16", new int[] {8, 8, 8, 4, 4, 4, 8, 8, 8});

    private static KernelArgs rightArgs() {
        return KernelArgs.of().ptr(1).ptr(0).ptr(2).f32(1e-5f).i32(4).i32(64).ptr(0).ptr(3).ptr(4);
    }

    @Test
    void aMatchingLaunchPasses() {
        assertDoesNotThrow(() -> rmsnorm.check(rightArgs()));
    }

    @Test
    void aMissingArgumentIsNamedWithTheKernel() {
        KernelArgs missingY = KernelArgs.of().ptr(1).ptr(2).f32(1e-5f).i32(4).i32(64).ptr(0).ptr(3).ptr(4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> rmsnorm.check(missingY));
        assertTrue(e.getMessage().contains("rmsnorm_fwd_bf16") && e.getMessage().contains("takes 9 arguments")
                && e.getMessage().contains("passes 8"), e.getMessage());
    }

    @Test
    void theDeclarationAlsoTellsAnIntFromAFloat() {
        KernelSignature declared = KernelSignature.declared("rmsnorm_fwd_bf16");     // RmsNorm.KERNELS
        assertDoesNotThrow(() -> declared.check(rightArgs()));
        KernelArgs intEps = KernelArgs.of().ptr(1).ptr(0).ptr(2).i32(1).i32(4).i32(64).ptr(0).ptr(3).ptr(4);
        assertDoesNotThrow(() -> rmsnorm.check(intEps), "the driver's sizes cannot tell");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> declared.check(intEps));
        assertTrue(e.getMessage().contains("argument 3 is an int") && e.getMessage().contains("declared 'f'"), e.getMessage());
    }

    @Test
    void aDeclarationUnlikeTheLoadedFunctionIsRefusedAtLoad() {
        KernelSignature declared = KernelSignature.declared("rmsnorm_fwd_bf16");
        assertDoesNotThrow(() -> declared.requireSameSizes(rmsnorm));
        KernelSignature loaded = new KernelSignature("rmsnorm_fwd_bf16", new int[] {8, 8, 8, 4, 4, 4, 8, 8});
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> declared.requireSameSizes(loaded));
        assertTrue(e.getMessage().contains("rmsnorm_fwd_bf16") && e.getMessage().contains("(p p p f i i p p p)"), e.getMessage());
    }

    @Test
    void anUndeclaredKernelHasNoDeclaration() {
        assertEquals(null, KernelSignature.declared("no_such_kernel"));
    }

    @Test
    void anArgumentOfTheWrongWidthIsNamedByIndex() {
        KernelArgs longRows = KernelArgs.of().ptr(1).ptr(0).ptr(2).f32(1e-5f).i64(4).i32(64).ptr(0).ptr(3).ptr(4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> rmsnorm.check(longRows));
        assertTrue(e.getMessage().contains("argument 4 is a long (8 bytes)") && e.getMessage().contains("parameter 4 has 4 bytes"),
                e.getMessage());
    }
}
