"""Embedded word lists for the synthetic population: names, streets, schools, practices.

Everything here is invented or common-noun material; no list holds a real person. The name lists
are common UK given names and surnames, split by the naming traditions found in a northern English
city (white British and Irish, South Asian, Black African and Caribbean, Eastern European, Chinese
and Vietnamese) because linkage errors differ by tradition: Polish surnames change with sex, many
Muslim boys share the first name Mohammed and are known by their middle name, Chinese names are
often keyed surname first. White British forenames are also split by birth cohort, so a woman born
in 1950 is a Margaret and her granddaughter an Amelia, as in real extracts.
"""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.strip().splitlines() if line.strip())


# Naming traditions and their share of households in the whole area (districts shift these).
GROUPS = ("white_british", "south_asian", "black", "eastern_european", "east_asian")

# --- Forenames ------------------------------------------------------------------------------------
# White British forenames by birth cohort: before 1970, 1970-1999, 2000 onwards.
WB_FEMALE_OLD = _words("""
Margaret Susan Patricia Christine Linda Carol Janet Elizabeth Mary Barbara Jean Sandra Pauline
Brenda Valerie Maureen Jacqueline Gillian Kathleen Anne Sheila Dorothy Joan Irene Doreen Hilary
Wendy Lesley Diane Julie Karen Denise Beverley Angela Lorraine Marion Rosemary Yvonne Sylvia
Eileen Jennifer Judith Catherine Teresa Veronica Bridget
""")
WB_FEMALE_MID = _words("""
Sarah Emma Claire Nicola Lisa Michelle Joanne Rebecca Laura Gemma Kelly Amy Hayley Stacey Kirsty
Danielle Victoria Rachel Louise Samantha Leanne Natalie Charlotte Jennifer Katherine Catherine
Stephanie Jessica Lauren Helen Kerry Donna Tracey Amanda Deborah Alison Jodie Zoe Sophie Hannah
Katie Kimberley Abigail Siobhan Clare Joanna Rachael Elizabeth Naomi Eleanor
""")
WB_FEMALE_YOUNG = _words("""
Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Willow Florence Emily Ella
Poppy Evie Elsie Charlotte Evelyn Sienna Daisy Phoebe Isabelle Harper Ruby Millie Matilda Esme
Alice Chloe Holly Erin Megan Jessica Maisie Summer Scarlett Layla Eleanor Abigail Lucy Molly Lexi
Harriet Imogen Eliza Niamh Orla Katie Courtney Bethany Paige Jade Shannon Elizabeth Victoria
Hollie Libby Tilly Darcie Aria Maya
""")
WB_MALE_OLD = _words("""
John David Michael Peter Robert William James Richard Brian Stephen Alan Keith Anthony Kenneth
Ronald Christopher Graham Colin Derek Trevor Geoffrey Barry Roger Raymond Malcolm Terence Dennis
Gerald Philip Norman Clive Gordon Ian Roy Leonard Frank George Edward Thomas Harold Patrick
Bernard Francis Douglas Kevin
""")
WB_MALE_MID = _words("""
Mark Paul Andrew Darren Lee Craig Jason Scott Wayne Dean Gary Stuart Neil Carl Matthew Daniel
Christopher Jonathan Simon Adam Ryan Jamie Thomas Benjamin Luke Nathan Ashley Kevin Shaun Richard
Martin Steven Robert Liam Gareth Michael Joseph Samuel Sean Aaron Kieran Philip Stephen Nicholas
Anthony Alexander Jonathon Timothy Gregory Edward
""")
WB_MALE_YOUNG = _words("""
Oliver George Noah Arthur Harry Leo Jack Charlie Oscar Jacob Henry Freddie Alfie Theo Thomas
Archie Joshua Alexander James William Isaac Edward Finley Max Lucas Teddy Tommy Louie Reggie
Jaxon Mason Logan Ethan Harrison Riley Dylan Callum Kai Tyler Jake Lewis Connor Bradley Jayden
Kyle Ellis Frankie Albie Ronnie Jenson Hugo Zachary Samuel Daniel Benjamin Matthew Joseph Ryan
Nathan Liam Rhys Owen Declan
""")

SA_FEMALE = _words("""
Aisha Ayesha Fatima Maryam Zainab Amina Hafsa Khadija Noor Sana Samina Nasreen Shazia Rubina
Farzana Nazia Saima Uzma Bushra Shabana Parveen Rukhsana Yasmin Hina Sadia Iqra Aleena Anaya Zara
Inaya Mariam Priya Pooja Anjali Sunita Harpreet Manpreet Gurpreet Simran Jaspreet Kiran Neha Asha
Meera Rani Safa Hajra Eshal Haniya Amara Nadia Sofia Alisha Humaira Tahira Ruqayyah
""")
SA_MALE = _words("""
Mohammed Muhammad Ahmed Ali Hassan Hussain Ibrahim Imran Tariq Asif Zahid Khalid Shahid Nadeem
Naveed Kamran Faisal Usman Bilal Hamza Zain Ayaan Yusuf Adam Musa Rayyan Abdullah Omar Arham Haris
Rehan Sajid Amir Raj Sanjay Vikram Arjun Rohan Harjit Jaswinder Sukhwinder Manjit Rajinder Kuldeep
Amarjit Deepak Nikhil Ravi Anil Zubair Irfan Waqas Adeel Junaid Aryan Ismail Haroon
""")
# Many South Asian Muslim boys are registered "Mohammed <calling name> <surname>" and known by the
# calling name, so the middle name turns up as the forename in other agencies' records.
SA_PROPHET_NAMES = ("Mohammed", "Muhammad", "Mohammad", "Mohamed")

BLACK_FEMALE = _words("""
Abigail Blessing Grace Precious Chioma Ngozi Adaeze Amara Folake Funmilayo Temitope Adwoa Akosua
Abena Ama Esi Efua Faith Mercy Joy Comfort Patience Chantelle Shanice Tanisha Keisha Jada Nia Imani
Zuri Amani Deborah Esther Ruth Miriam Hodan Ayan Fadumo Sahra Hibo Ifrah Nimo Asha Naomi Tiana
Destiny Favour Princess
""")
BLACK_MALE = _words("""
Chinedu Emeka Obinna Chukwuemeka Oluwaseun Tunde Babatunde Adebayo Olumide Kwame Kofi Kwabena Yaw
Kojo Samuel Daniel David Emmanuel Joseph Isaac Michael Tyrone Marcus Andre Jermaine Delroy Leon
Tyrese Malachi Elijah Josiah Ezekiel Abdi Abdirahman Mohamed Mahad Hassan Yusuf Liban Said Nathaniel
Jerome Kayden Micah Caleb Ayomide
""")

EE_FEMALE = _words("""
Anna Katarzyna Agnieszka Małgorzata Joanna Magdalena Monika Ewa Aleksandra Natalia Zuzanna Julia
Maja Zofia Oliwia Wiktoria Marta Karolina Paulina Dorota Andreea Ioana Elena Maria Alina Daria
Iulia Bianca Ivana Jana Lucie Kristina Inga Laura Agnė Eglė Justyna Beata Izabela Gabriela
""")
EE_MALE = _words("""
Piotr Krzysztof Tomasz Paweł Michał Marcin Łukasz Jakub Kamil Mateusz Adam Bartosz Dawid Szymon
Filip Antoni Wojciech Grzegorz Andrei Ionuț Mihai Alexandru Florin Bogdan Stefan Vasile Darius
Matei Jan Petr Martin Tomáš Lukas Mindaugas Andrius Vytautas Artur Oskar Sebastian Marek Rafał
""")

EA_FEMALE = _words("""
Mei Li Xin Yan Ying Jing Hui Lan Xiaoling Jia Yu Wen Linh Huong Thao Mai Ngoc Lily Grace Amy
""")
EA_MALE = _words("""
Wei Jun Hao Chen Ming Jian Lei Tao Yong Zhiwei Bo Kai Minh Duc Tuan Hung Nam Kevin Jason Daniel
""")

FORENAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("south_asian", "F"): SA_FEMALE,
    ("south_asian", "M"): SA_MALE,
    ("black", "F"): BLACK_FEMALE,
    ("black", "M"): BLACK_MALE,
    ("eastern_european", "F"): EE_FEMALE,
    ("eastern_european", "M"): EE_MALE,
    ("east_asian", "F"): EA_FEMALE,
    ("east_asian", "M"): EA_MALE,
}
WB_FORENAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("old", "F"): WB_FEMALE_OLD,
    ("mid", "F"): WB_FEMALE_MID,
    ("young", "F"): WB_FEMALE_YOUNG,
    ("old", "M"): WB_MALE_OLD,
    ("mid", "M"): WB_MALE_MID,
    ("young", "M"): WB_MALE_YOUNG,
}

# --- Surnames -------------------------------------------------------------------------------------
WB_SURNAMES = _words("""
Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans Walker
White Roberts Green Hall Wood Jackson Clarke Clark Turner Hill Harris Moore Cooper King Lee Martin
Baker Harrison Morgan Allen Lewis Young Scott Mitchell Watson Phillips Edwards Anderson Parker
Marshall Bell Kelly Carter Shaw Hughes Lloyd Ward Cook Morris Murphy Bailey Holmes Atkinson Barker
Fletcher Dixon Armstrong Hudson Stevens Stephens Chapman Wilkinson Gibson Booth Hargreaves
Sutcliffe Ackroyd Greenwood Holroyd Pickles Lister Mortimer Whitaker Haigh Crowther Brook Firth
Rhodes Sykes Ramsden Schofield Barraclough Fawcett Dobson Naylor Pearson Priestley Marsden Walsh
O'Brien O'Neill O'Connor O'Sullivan O'Reilly O'Hara O'Donnell Ryan Byrne Doyle McCarthy Kennedy
Quinn Murray McDonald MacDonald McKenzie Campbell Stewart Robertson Fraser Sinclair Ferguson
Griffiths Price Jenkins Rees Owen Powell Hopkins Howells Simpson Hodgson Metcalfe Moss Hartley
Kaye Bradley Riley Jennings Mason Butler Barnes Fisher Henderson Rowe Webb Hunt Mills Lawson
Nicholson Lambert Spencer Gray Grey Reid Read Thomson Matthews Mathews Jefferson Tomlinson
Ellis Bentley Horsfall Sugden Illingworth Midgley Lumb Greaves Cawthorne Womersley D'Arcy
""")
# Double-barrelled surnames inherited as such (not made at marriage; those are built in code).
WB_DOUBLE_BARRELLED = _words("""
Smith-Jones Fox-Hughes Hamilton-Smith Taylor-Wood Ashworth-Brown Wade-Morris Clarke-Hill
Pryce-Davies Jones-Evans Newton-Barker Royle-Whitaker Hyde-Walker Lloyd-Owen Ward-Hargreaves
Bennett-Shaw Marsh-Kelly Holt-Robinson Green-Atkinson
""")
SA_SURNAMES = _words("""
Khan Hussain Ahmed Ali Akhtar Iqbal Shah Mahmood Rahman Islam Uddin Miah Rashid Malik
Butt Mirza Raza Aslam Javed Sadiq Hanif Yousaf Qureshi Chaudhry Anwar Bashir Sharif Patel Singh
Sharma Kumar Gill Sandhu Dhillon Sidhu Bains Mistry Chauhan Parmar Lal Mehta Joshi Chopra
Bhatti Nawaz Zaman Ashraf Hameed Riaz Latif D'Souza D'Cruz Hussein Mohammed Saddique Arshad
""")
# Many Sikh women are registered as Kaur and men as Singh instead of the family name, and many
# Bangladeshi and Pakistani women as Begum or Bibi, so a mother's surname need not be her
# children's. population._person gives these to some adults of Sikh and Muslim families.
SIKH_FAMILY_SURNAMES = frozenset(("Singh", "Gill", "Sandhu", "Dhillon", "Sidhu", "Bains"))
MUSLIM_WOMEN_SURNAMES = ("Begum", "Bibi")
HINDU_OR_CHRISTIAN_SURNAMES = frozenset(
    ("Patel", "Sharma", "Kumar", "Mistry", "Chauhan", "Parmar", "Lal", "Mehta", "Joshi", "Chopra")
    + ("D'Souza", "D'Cruz")
)

BLACK_SURNAMES = _words("""
Okafor Okonkwo Adeyemi Adebayo Oluwole Okoro Eze Nwosu Obi Balogun Ogunleye Mensah Owusu Boateng
Asante Osei Appiah Agyeman Campbell Williams Brown Thomas Clarke Johnson Robinson Francis Grant
Henry Edwards Reid Bennett Mohamed Abdi Ali Hassan Ahmed Warsame Farah Osman Jama Nkomo Moyo Ncube
Dube Banda Phiri Adeleke Oyelaran Afolabi Akinola Ogunbiyi Richards Lewis
""")
# Polish surnames are stored in their masculine form; population.gendered_surname makes -ska/-cka.
EE_SURNAMES = _words("""
Kowalski Nowak Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak
Dąbrowski Kozłowski Jankowski Mazur Kwiatkowski Krawczyk Piotrowski Grabowski Nowakowski Pawłowski
Michalski Wróbel Jabłoński Popescu Ionescu Popa Pop Radu Dumitru Stan Stoica Gheorghe Matei
Ciobanu Rusu Munteanu Constantin Novák Horváth Balogh Kovács Nagy Varga Dvořák Procházka
""")
EA_SURNAMES = _words("""
Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Lin Wong Chan Cheung Lee Ng Nguyen Tran Pham Le
Ho Tang Lau Leung
""")

SURNAMES: dict[str, tuple[str, ...]] = {
    "white_british": WB_SURNAMES,
    "south_asian": SA_SURNAMES,
    "black": BLACK_SURNAMES,
    "eastern_european": EE_SURNAMES,
    "east_asian": EA_SURNAMES,
}

# --- Variants of forenames ------------------------------------------------------------------------
# Formal name -> the shortened or familiar forms people give instead (Bob for Robert and so on).
# Kept here for the generator; the matcher builds its own normaliser rather than reading this.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby", "Robbie"),
    "William": ("Bill", "Will", "Billy", "Liam"),
    "Elizabeth": ("Liz", "Beth", "Lizzie", "Betty", "Eliza"),
    "Katherine": ("Kate", "Katie", "Kathy", "Kath"),
    "Catherine": ("Cath", "Cathy", "Kate", "Katie"),
    "Margaret": ("Maggie", "Peggy", "Meg", "Margo"),
    "Michael": ("Mike", "Mick", "Mikey"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Thomas": ("Tom", "Tommy"),
    "Jonathan": ("Jon", "Jonny"),
    "Jonathon": ("Jon", "Jonny"),
    "Christopher": ("Chris", "Kit"),
    "Christine": ("Chris", "Chrissie", "Tina"),
    "Alexander": ("Alex", "Sandy", "Xander"),
    "Aleksandra": ("Ola", "Ala"),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt", "Matty"),
    "Nicholas": ("Nick", "Nicky"),
    "Benjamin": ("Ben", "Benny"),
    "Samuel": ("Sam", "Sammy"),
    "Samantha": ("Sam", "Sammy"),
    "Joseph": ("Joe", "Joey"),
    "Joshua": ("Josh",),
    "Anthony": ("Tony", "Ant"),
    "Richard": ("Rich", "Rick", "Dick", "Richie"),
    "Edward": ("Ed", "Eddie", "Ted", "Ned"),
    "Victoria": ("Vicky", "Tori", "Vikki"),
    "Rebecca": ("Becky", "Becca", "Bex"),
    "Jennifer": ("Jen", "Jenny"),
    "Jessica": ("Jess", "Jessie"),
    "Susan": ("Sue", "Susie"),
    "Deborah": ("Debbie", "Deb", "Debs"),
    "Patricia": ("Pat", "Trish", "Patsy"),
    "Frederick": ("Fred", "Freddie"),
    "Henry": ("Harry", "Hal"),
    "Stephen": ("Steve", "Stevie"),
    "Steven": ("Steve", "Stevie"),
    "Andrew": ("Andy", "Drew"),
    "David": ("Dave", "Davey"),
    "Peter": ("Pete",),
    "Gregory": ("Greg",),
    "Timothy": ("Tim", "Timmy"),
    "Philip": ("Phil",),
    "Kenneth": ("Ken", "Kenny"),
    "Ronald": ("Ron", "Ronnie"),
    "Gerald": ("Gerry",),
    "Leonard": ("Len", "Lenny"),
    "Terence": ("Terry",),
    "Raymond": ("Ray",),
    "Abigail": ("Abby", "Abbie", "Gail"),
    "Amanda": ("Mandy",),
    "Eleanor": ("Ellie", "Nell", "Nora"),
    "Isabella": ("Izzy", "Bella", "Isla"),
    "Isabelle": ("Izzy", "Belle"),
    "Jacqueline": ("Jackie",),
    "Joanne": ("Jo",),
    "Joanna": ("Jo", "Asia"),
    "Kimberley": ("Kim",),
    "Natalie": ("Nat",),
    "Natalia": ("Natka", "Nat"),
    "Olivia": ("Liv", "Livvy"),
    "Sophia": ("Sophie",),
    "Zachary": ("Zach", "Zack"),
    "Harrison": ("Harry",),
    "Oliver": ("Ollie", "Olly"),
    "Charlotte": ("Charlie", "Lottie"),
    "Florence": ("Flo", "Florrie"),
    "Matilda": ("Tilly", "Tilda"),
    "Alfred": ("Alfie",),
    "Theodore": ("Theo", "Teddy"),
    "Francis": ("Frank", "Frankie"),
    "Patrick": ("Pat", "Paddy"),
    "Douglas": ("Doug",),
    "Bernard": ("Bernie",),
    "Nathaniel": ("Nathan", "Nat"),
    "Gabriela": ("Gabi",),
    "Katarzyna": ("Kasia", "Kate"),
    "Małgorzata": ("Gosia", "Margaret"),
    "Agnieszka": ("Aga",),
    "Magdalena": ("Magda",),
    "Aleksander": ("Olek",),
    "Krzysztof": ("Chris", "Krzys"),
    "Wojciech": ("Wojtek",),
    "Mohammed": ("Mo",),
    "Muhammad": ("Mo",),
    "Babatunde": ("Tunde",),
    "Oluwaseun": ("Seun",),
    "Chukwuemeka": ("Emeka",),
    "Abdirahman": ("Abdi",),
    "Alexandru": ("Alex",),
    "Ruqayyah": ("Ruqi",),
}

# Names that sound alike and are keyed either way (Stephen/Steven). Each group is a set of
# interchangeable spellings; the generator swaps a name for another member of its group.
PHONETIC_GROUPS: tuple[tuple[str, ...], ...] = (
    ("Stephen", "Steven"),
    ("Jon", "John"),
    ("Sean", "Shaun", "Shawn"),
    ("Philip", "Phillip"),
    ("Catherine", "Katherine", "Kathryn", "Katharine"),
    ("Isabel", "Isobel", "Isabelle", "Isabell"),
    ("Zoe", "Zoey", "Zoë"),
    ("Aaron", "Aron"),
    ("Lee", "Leigh"),
    ("Mohammed", "Muhammad", "Mohammad", "Mohamed", "Muhammed"),
    ("Aisha", "Ayesha", "Aysha"),
    ("Jayden", "Jaden", "Jaiden"),
    ("Matthew", "Mathew"),
    ("Carl", "Karl"),
    ("Claire", "Clare"),
    ("Geoffrey", "Jeffrey"),
    ("Graham", "Graeme"),
    ("Brian", "Bryan"),
    ("Neil", "Neal"),
    ("Alan", "Allan", "Allen"),
    ("Lewis", "Louis"),
    ("Rachel", "Rachael"),
    ("Stephanie", "Stefanie"),
    ("Jonathan", "Jonathon"),
    ("Hayley", "Haley", "Hailey"),
    ("Kirsty", "Kirstie", "Kirsten"),
    ("Leanne", "Lianne", "Leann"),
    ("Lily", "Lilly", "Lillie"),
    ("Millie", "Milly"),
    ("Evie", "Evee"),
    ("Sophie", "Sofie"),
    ("Layla", "Leila", "Laila"),
    ("Ellis", "Elis"),
    ("Mason", "Mayson"),
    ("Kyle", "Kile"),
    ("Tyrone", "Tyron"),
    ("Kieran", "Kieron", "Ciaran"),
    ("Niamh", "Neve", "Neave"),
    ("Hussain", "Hussein", "Husain"),
    ("Yusuf", "Yousef", "Yusef"),
    ("Ahmed", "Ahmad"),
    ("Fatima", "Fatimah"),
    ("Maryam", "Mariam", "Miriam"),
    ("Zainab", "Zaynab"),
)

# Surname spellings keyed either way.
SURNAME_PHONETIC_GROUPS: tuple[tuple[str, ...], ...] = (
    ("Smith", "Smyth"),
    ("Thompson", "Thomson", "Tomson"),
    ("Phillips", "Philips"),
    ("Matthews", "Mathews"),
    ("Reid", "Read", "Reed"),
    ("Stevens", "Stephens"),
    ("Clarke", "Clark"),
    ("Gray", "Grey"),
    ("Davies", "Davis"),
    ("McDonald", "MacDonald", "Macdonald"),
    ("Hussain", "Hussein", "Husain"),
    ("Ahmed", "Ahmad"),
    ("Mohammed", "Mohammad", "Mohamed"),
    ("Chaudhry", "Choudhury", "Chowdhury"),
    ("Saddique", "Siddique", "Sadiq"),
    ("Nicholson", "Nicolson"),
    ("Haigh", "Hague"),
    ("Kaye", "Kay"),
    ("Brook", "Brooke"),
    ("Hargreaves", "Hargraves"),
    ("Sutcliffe", "Sutcliff"),
    ("Whitaker", "Whittaker"),
    ("Metcalfe", "Metcalf"),
    ("Okafor", "Okafur"),
)

FORENAME_VARIANTS: dict[str, tuple[str, ...]] = {}
for _group in PHONETIC_GROUPS:
    for _name in _group:
        FORENAME_VARIANTS[_name] = tuple(other for other in _group if other != _name)
SURNAME_VARIANTS: dict[str, tuple[str, ...]] = {}
for _group in SURNAME_PHONETIC_GROUPS:
    for _name in _group:
        SURNAME_VARIANTS[_name] = tuple(other for other in _group if other != _name)

# --- Places ---------------------------------------------------------------------------------------
TOWN = "Leeds"

# Postcode district -> (localities, relative deprivation, share of households by naming tradition
# in the order of GROUPS). Deprivation scales the chance that a household is a safeguarding risk
# and that it rents from the council.
DISTRICTS: dict[str, tuple[tuple[str, ...], float, tuple[float, ...]]] = {
    "LS4": (("Kirkstall", "Burley"), 1.0, (0.78, 0.08, 0.06, 0.05, 0.03)),
    "LS6": (("Headingley", "Hyde Park"), 0.8, (0.74, 0.10, 0.05, 0.04, 0.07)),
    "LS7": (("Chapel Allerton", "Chapeltown"), 1.3, (0.50, 0.22, 0.20, 0.05, 0.03)),
    "LS8": (("Harehills", "Roundhay", "Gipton"), 1.5, (0.42, 0.30, 0.14, 0.12, 0.02)),
    "LS9": (("Burmantofts", "Richmond Hill"), 1.6, (0.62, 0.14, 0.12, 0.10, 0.02)),
    "LS10": (("Hunslet", "Belle Isle"), 1.5, (0.80, 0.05, 0.06, 0.08, 0.01)),
    "LS11": (("Beeston", "Holbeck"), 1.4, (0.58, 0.24, 0.08, 0.08, 0.02)),
    "LS12": (("Armley", "Wortley"), 1.3, (0.76, 0.08, 0.06, 0.09, 0.01)),
    "LS13": (("Bramley", "Rodley"), 1.0, (0.88, 0.04, 0.03, 0.04, 0.01)),
    "LS14": (("Seacroft", "Whinmoor"), 1.6, (0.86, 0.03, 0.05, 0.05, 0.01)),
    "LS15": (("Crossgates", "Halton"), 0.7, (0.90, 0.04, 0.02, 0.03, 0.01)),
}
DISTRICT_WEIGHTS: dict[str, float] = {
    "LS4": 0.7,
    "LS6": 1.0,
    "LS7": 1.0,
    "LS8": 1.4,
    "LS9": 1.1,
    "LS10": 1.0,
    "LS11": 1.2,
    "LS12": 1.1,
    "LS13": 1.0,
    "LS14": 1.0,
    "LS15": 0.9,
}

# Street names are a stem and a suffix, as in real towns where Oak Road, Oak Grove and Oak Mount
# sit side by side; near-identical addresses are part of what makes linkage hard.
STREET_STEMS = _words("""
Acre Ash Barley Beech Bell Birch Brook Carr Chapel Cherry Church Clarendon Cliff Cross Dale Elm
Fern Field Garden Grange Green Hall Hawthorn Hazel High Hill Holly Kirk Laburnum Larch Lime Low
Manor Maple Meadow Mill Moor Moorland Mount Oak Orchard Park Parkside Poplar Primrose Princess
Queen Rock Rose Rowan School Spring Springfield Station Stone Sycamore Thorn Tower Victoria Well
West Willow Windsor Wood York Albert Alexandra Beckett Cemetery Compton Cowper Ebor Edgar Florence
Granby Hanover Lodge Model Nab Newton Norfolk Oakwood Ridge Shepherd Tempest Thornhill Harrogate
Bayswater Brudenell Cardigan Cranbrook Dewsbury Elford Gathorne Hovingham Kitson Lascelles
Milan Nowell Recreation Sandhurst Strathmore Tennyson Trentham Wyther Ashton Banstead
""")
STREET_SUFFIXES = _words("""
Road Street Avenue Grove Terrace Place Lane Close Crescent Drive Mount View Gardens Way Court
Walk Rise Square
""")
# Suffix -> the abbreviation clerks and older systems use.
STREET_ABBREVIATIONS: dict[str, str] = {
    "Road": "Rd",
    "Street": "St",
    "Avenue": "Ave",
    "Grove": "Gr",
    "Terrace": "Terr",
    "Place": "Pl",
    "Lane": "Ln",
    "Close": "Cl",
    "Crescent": "Cres",
    "Drive": "Dr",
    "Mount": "Mt",
    "Gardens": "Gdns",
    "Court": "Ct",
    "Square": "Sq",
}
# Blocks used as temporary accommodation; many homeless households share one building.
TEMPORARY_ACCOMMODATION = _lines("""
Oakfield House, 14 Station Road
Rosewood Court, 2 Mill Lane
The Gables, 31 Victoria Terrace
Holbeck Lodge, 7 Tower Street
Brookside Hostel, 55 Dale Road
Harrow House, 120 York Road
""")

# Schools: generic names, so that no real school is implied. Per district, primaries get numbers
# 2001-3999 and secondaries 4001-4999, the DfE's ranges for maintained schools.
PRIMARY_SCHOOL_PATTERNS = (
    "{stem} Primary School",
    "{stem} Primary Academy",
    "St {saint}'s Catholic Primary School",
    "{stem} C of E Primary School",
    "{stem} Community Primary School",
)
SECONDARY_SCHOOL_PATTERNS = ("{stem} High School", "{stem} Academy", "{stem} Community College")
SCHOOL_STEMS = _words("""
Oakfield Beechwood Hillcrest Meadowbank Fernbrook Ashgrove Brookfield Elmwood Highfield Parklands
Willowbank Rosehill Springbank Hawthorn Moorside Westfield Greenacre Larchwood Cherrytree
Thornbury Riverside Kirkdale Stonebridge Millbrook Fairview Ridgeway Birchwood Limetree
Castleton Woodlands Hollybush Orchard Bankside Clifton Redhill Northgate Southfield Maplewood
""")
SAINTS = _words("Mary Joseph Anne Patrick Theresa Augustine Bernadette Francis Peter Paul")
GP_PRACTICE_PATTERNS = (
    "{stem} Surgery",
    "{stem} Medical Centre",
    "{stem} Health Centre",
    "{stem} Medical Practice",
    "{stem} Family Practice",
)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
