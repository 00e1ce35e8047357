"""Physical constants (SI 2019; exact unless noted). Energies elsewhere in qpclab are in eV where named ``*_eV``."""

E = 1.602176634e-19  #: elementary charge, C
H = 6.62607015e-34  #: Planck constant, J s
HBAR = H / (2 * 3.141592653589793)  #: reduced Planck constant, J s
K_B = 1.380649e-23  #: Boltzmann constant, J/K
MU_B = 9.2740100783e-24  #: Bohr magneton, J/T (CODATA 2018)
M_E = 9.1093837015e-31  #: electron mass, kg (CODATA 2018)

G0 = 2 * E**2 / H  #: conductance quantum with spin degeneracy 2e^2/h, S (7.748091729863650e-5)
R_K = H / E**2  #: von Klitzing constant h/e^2, ohm (25812.80745930)
E2_H = E**2 / H  #: conductance of one spin-resolved channel e^2/h, S

K_B_EV = K_B / E  #: Boltzmann constant, eV/K
MU_B_EV = MU_B / E  #: Bohr magneton, eV/T
