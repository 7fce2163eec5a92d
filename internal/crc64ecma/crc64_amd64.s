//go:build !purego

#include "textflag.h"

// func updateCLMUL(reg uint64, p []byte, k *foldConstants) uint64
//
// Folds p (len a multiple of 16, at least 64) into the raw register reg with
// PCLMULQDQ and reduces the result with Barrett's method; constants.go
// explains the arithmetic and the constants at k.
TEXT ·updateCLMUL(SB), NOSPLIT, $0-48
	MOVQ reg+0(FP), AX
	MOVQ p_base+8(FP), SI
	MOVQ p_len+16(FP), CX
	MOVQ k+32(FP), DX

	// Four lanes of 16 bytes; the register goes into the first 8 bytes.
	MOVOU 0(SI), X1
	MOVOU 16(SI), X2
	MOVOU 32(SI), X3
	MOVOU 48(SI), X4
	MOVQ  AX, X0
	PXOR  X0, X1
	ADDQ  $64, SI
	SUBQ  $64, CX
	MOVOU 0(DX), X0 // fold512
	CMPQ  CX, $64
	JB    merge

	PCALIGN $16
loop64:
	MOVOA X1, X5
	MOVOA X2, X6
	MOVOA X3, X7
	MOVOA X4, X8

	PCLMULQDQ $0x00, X0, X1
	PCLMULQDQ $0x00, X0, X2
	PCLMULQDQ $0x00, X0, X3
	PCLMULQDQ $0x00, X0, X4

	MOVOU 0(SI), X11
	MOVOU 16(SI), X12
	MOVOU 32(SI), X13
	MOVOU 48(SI), X14

	PCLMULQDQ $0x11, X0, X5
	PCLMULQDQ $0x11, X0, X6
	PCLMULQDQ $0x11, X0, X7
	PCLMULQDQ $0x11, X0, X8

	PXOR X5, X1
	PXOR X6, X2
	PXOR X7, X3
	PXOR X8, X4

	PXOR X11, X1
	PXOR X12, X2
	PXOR X13, X3
	PXOR X14, X4

	ADDQ $64, SI
	SUBQ $64, CX
	CMPQ CX, $64
	JAE  loop64

merge:
	// Fold the lanes into X1, one chunk at a time.
	MOVOU 16(DX), X0 // fold128

	MOVOA     X1, X5
	PCLMULQDQ $0x00, X0, X1
	PCLMULQDQ $0x11, X0, X5
	PXOR      X5, X1
	PXOR      X2, X1

	MOVOA     X1, X5
	PCLMULQDQ $0x00, X0, X1
	PCLMULQDQ $0x11, X0, X5
	PXOR      X5, X1
	PXOR      X3, X1

	MOVOA     X1, X5
	PCLMULQDQ $0x00, X0, X1
	PCLMULQDQ $0x11, X0, X5
	PXOR      X5, X1
	PXOR      X4, X1

	CMPQ CX, $16
	JB   reduce

loop16:
	MOVOU     0(SI), X2
	MOVOA     X1, X5
	PCLMULQDQ $0x00, X0, X1
	PCLMULQDQ $0x11, X0, X5
	PXOR      X5, X1
	PXOR      X2, X1
	ADDQ      $16, SI
	SUBQ      $16, CX
	CMPQ      CX, $16
	JAE       loop16

reduce:
	// T = H·(x^127 mod P)·x + L·x^64: Th in the low quadword, Tl high.
	MOVOU     32(DX), X0 // fold64
	MOVOA     X1, X2
	PCLMULQDQ $0x00, X0, X1
	PSRLDQ    $8, X2
	PXOR      X2, X1

	// Barrett: q = low(clmul(Th, C)); register = high(clmul(q, R)) ^ q ^ Tl.
	MOVOU     48(DX), X0 // barrett: C low, R high
	MOVOA     X1, X2
	PCLMULQDQ $0x00, X0, X1
	MOVOA     X1, X3
	PCLMULQDQ $0x10, X0, X1
	PSLLDQ    $8, X3
	PXOR      X3, X1
	PXOR      X2, X1

	PEXTRQ $1, X1, AX
	MOVQ   AX, ret+40(FP)
	RET
